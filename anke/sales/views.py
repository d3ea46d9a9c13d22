"""Placeholder views; the sales web pages are being built."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def board(request, **kwargs):
    return HttpResponse("")


tasks = orders = board
