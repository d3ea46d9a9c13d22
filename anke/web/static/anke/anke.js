// Behaviour that would otherwise need inline script (forbidden by the CSP).
"use strict";

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.classList.contains("js-autosubmit")) {
    target.form.requestSubmit();
  }
});

function renderCharts() {
  if (typeof Chart === "undefined") return;
  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source || canvas.dataset.rendered) return;
    const spec = JSON.parse(source.textContent);
    canvas.dataset.rendered = "1";
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
                 plugins: { legend: { display: spec.datasets.length > 1 } } },
    });
  });
}

document.addEventListener("DOMContentLoaded", renderCharts);
document.addEventListener("htmx:afterSwap", renderCharts);
