from django.contrib.auth.forms import AuthenticationForm

from anke.core.forms import BootstrapFormMixin


class LoginForm(BootstrapFormMixin, AuthenticationForm):
    """Django's login form; the same answer for unknown users and wrong passwords."""
