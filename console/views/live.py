"""Live pages: a page and the fragments of it that refresh themselves (htmx polling, see the `live` tag)."""
from django.shortcuts import render


def render_live(request, template, partial, context):
    """The whole page, or only its live fragment when htmx polls it with ?partial=1."""
    if request.GET.get("partial"):
        return render(request, partial, context)
    return render(request, template, context)
