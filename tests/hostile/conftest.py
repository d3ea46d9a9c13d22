# The audit tests' key and checkpoint files (autouse), for the attacks on the audit trail too.
from tests.audit.conftest import _suite_signing_key, audit_files, public_key  # noqa: F401
