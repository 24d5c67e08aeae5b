from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.template.loader import render_to_string

from portal.accounts.addresses import AddressRefused, canonical_email
from portal.accounts.models import User
from portal.core import mail


class CanonicalEmailField(forms.EmailField):
    """An email field whose value is the address's canonical form (addresses.py), computed
    before validation, so that a fullwidth "bob" is bob and an address that has no canonical
    form gets the reason in a sentence."""

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        if not text:
            return ""
        try:
            return canonical_email(text)
        except AddressRefused as refusal:
            raise forms.ValidationError(str(refusal), code="invalid") from None


class SignupForm(forms.Form):
    email = CanonicalEmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            candidate = User(email=data.get("email", ""), name=data.get("name", ""))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class PasswordAgainForm(forms.Form):
    password = forms.CharField(
        label="Your portal password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CanonicalPasswordResetForm(PasswordResetForm):
    """Django's reset form, finding people by the canonical address (it matches them
    case-insensitively) and queueing the message in the outbox instead of sending it in the
    request (portal/mail.py): a silent mail server must not hang the page."""

    email = CanonicalEmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def get_users(self, email: str) -> Any:
        people = User.objects.filter(email=email, is_active=True)
        return (person for person in people if person.has_usable_password())

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        body = render_to_string(email_template_name, context)
        mail.password_reset(email=to_email, subject=subject, body=body)
