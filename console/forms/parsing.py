"""Model forms that only parse: the rules about the values are the domain's (console.domain.catalog)."""
from django import forms


class ParsingModelForm(forms.ModelForm):
    """Fields, widgets and parsing of a model form, without the model's validation or saving: the view hands
    `values()` to a domain operation, which checks everything (validity, uniqueness, who may) and writes.
    A DomainError it raises is shown on the form (`add_domain_error`)."""

    def _post_clean(self):
        # ModelForm would validate the instance here (and mutate it): the domain operation does that instead.
        pass

    def values(self) -> dict:
        """The parsed values of the model fields this form shows."""
        return {name: self.cleaned_data[name] for name in self._meta.fields if name in self.cleaned_data}

    def add_domain_error(self, error):
        self.add_error(error.field if error.field in self.fields else None, error.message)
