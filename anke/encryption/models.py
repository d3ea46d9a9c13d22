"""Wrapped data keys, master-key check values, the erasure ledger and rotation runs.

Nothing here is secret on its own: a data key is stored only wrapped by a master key that lives
in the key file, never in the database.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DataKey(models.Model):
    """One version of a subject's (a customer's) data key, wrapped by a master key version.

    A subject has one active key at a time; a data-key rotation replaces it in the same
    transaction that re-encrypts the subject's rows. Shredding destroys it: the wrapped bytes
    are deleted and every value under it becomes unreadable, here and in every backup.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        DESTROYED = "destroyed", _("destroyed")

    subject_id = models.UUIDField(_("subject"), db_index=True)
    version = models.PositiveIntegerField(_("version"))
    kek_version = models.PositiveIntegerField(_("master key version"), db_index=True)
    wrapped = models.TextField(_("wrapped key"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    destroyed_at = models.DateTimeField(_("destroyed"), null=True, blank=True)

    class Meta:
        verbose_name = _("data key")
        verbose_name_plural = _("data keys")
        constraints = [
            models.UniqueConstraint(fields=["subject_id", "version"], name="datakey_version"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="datakey_rotation")]

    def __str__(self) -> str:
        return f"{self.subject_id} v{self.version} ({self.status})"


class KeyCheck(models.Model):
    """A known value sealed under (master) or keyed with (index) each key version: at start
    Anke proves the key file it was given is the one the data was written with, instead of
    serving unreadable values or searches that find nothing."""

    kind = models.CharField(_("kind"), max_length=10)
    version = models.PositiveIntegerField(_("key version"))
    check_value = models.TextField(_("check value"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("key check")
        verbose_name_plural = _("key checks")
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="keycheck_version")]

    def __str__(self) -> str:
        return f"{self.kind} key v{self.version}"


class Erasure(models.Model):
    """The erasure ledger: subjects whose data key was destroyed. It holds no personal data, and
    a restore re-applies it so an erased customer never comes back from an older backup."""

    subject_id = models.UUIDField(_("subject"), unique=True)
    erased_at = models.DateTimeField(_("erased"), default=timezone.now)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["erased_at"]
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")

    def __str__(self) -> str:
        return f"{self.subject_id} erased {self.erased_at:%Y-%m-%d}"


class KeyRotation(models.Model):
    """A rotation run. It survives a crash, so the next run of the same command resumes it."""

    class Kind(models.TextChoices):
        MASTER = "master", _("master keys")
        DATA = "data", _("data keys")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    target_version = models.PositiveIntegerField(_("target key version"))
    done = models.PositiveBigIntegerField(_("rows done"), default=0)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("key rotation")
        verbose_name_plural = _("key rotations")

    def __str__(self) -> str:
        return f"{self.kind} rotation to v{self.target_version}"
