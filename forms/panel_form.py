"""The Panel form a business user fills in to run a service.

Widgets come from the :class:`~forms.model.Form`; every check is the form's own
:meth:`~forms.model.Form.validate_field` / :meth:`~forms.model.Form.validate`, so the page
accepts exactly what the CLI, the REST API and triggering events accept.

CSS classes are a contract with the browser tests: each input has ``studio-field`` and
``studio-field-<name>``; its message ``studio-field-error`` and ``studio-field-error-<name>``;
the button ``studio-submit``; the summary line ``studio-form-status``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable
from typing import Any

import panel as pn
from panel.widgets import Widget

from forms.model import Field, Form
from studio.errors import StudioError, ValidationFailed

_ERROR_STYLE = {"color": "#b00020", "font-size": "0.85em", "margin-top": "0"}
_HELP_STYLE = {"color": "#555", "font-size": "0.85em", "margin-top": "0"}


class _BadInput(Exception):
    """The widget holds something that is not yet a value (JSON text that does not parse)."""


class FormView(pn.viewable.Viewer):
    """A form for ``form``; calls ``on_submit(values)`` with validated values.

    ``values`` prefills it (a saved run, a past execution), over the defaults. File
    fields deliver ``{"filename": str, "content": bytes}`` for a new upload, or the
    prefilled path when nothing new was uploaded.
    """

    def __init__(
        self,
        form: Form,
        on_submit: Callable[[dict[str, Any]], Any],
        values: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.form = form
        self._on_submit = on_submit
        self.widgets: dict[str, Widget] = {}
        self._messages: dict[str, pn.pane.HTML] = {}
        self._helps: dict[str, pn.pane.HTML] = {}
        self._paths: dict[str, str | None] = {}  # file fields: the path kept from a prefill
        self._problems: dict[str, str] = {}
        self._unshowable: dict[str, str] = {}  # saved values prefill could not put in a widget
        self._shown: set[str] = set()  # fields whose message is visible (changed or submitted)
        self._quiet = True
        rows = []
        for f in form.fields:
            widget = _widget(f)
            self.widgets[f.name] = widget
            help_text = " ".join(filter(None, [f.description, _bounds_text(f)]))
            self._helps[f.name] = pn.pane.HTML(
                html.escape(help_text), visible=bool(help_text),
                css_classes=["studio-field-help"], styles=_HELP_STYLE, margin=(0, 10),
            )
            self._messages[f.name] = pn.pane.HTML(
                "", visible=False, styles=_ERROR_STYLE, margin=(0, 10),
                css_classes=["studio-field-error", f"studio-field-error-{f.name}"],
            )
            watched = ["value", "filename"] if f.type == "file" else ["value"]
            widget.param.watch(lambda *events, name=f.name: self._changed(name), watched)
            # A radio group draws no title of its own: give it the label the other widgets show.
            title = ([pn.pane.HTML(html.escape(f"{f.title} *" if f.required else f.title), margin=(5, 10, 0, 10),
                                   css_classes=["studio-field-label"])] if f.type == "radio" else [])
            rows.append(pn.Column(*title, widget, self._helps[f.name], self._messages[f.name], margin=0))
        self.submit_button = pn.widgets.Button(
            label="Submit", button_type="primary", css_classes=["studio-submit"]
        )
        self.submit_button.on_click(lambda event: self.submit())
        self.status = pn.pane.HTML("", css_classes=["studio-form-status"], styles=_HELP_STYLE)
        self._layout = pn.Column(*rows, self.submit_button, self.status)
        if values:
            self.prefill(values)
        for f in form.fields:
            self._check(f.name)
        self._quiet = False
        self._refresh()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- reading and writing the widgets ---------------------------------------------

    @property
    def values(self) -> dict[str, Any]:
        """What the widgets hold now, before validation; fields left empty are absent."""
        out: dict[str, Any] = {}
        for f in self.form.fields:
            try:
                value = self._raw(f)
            except _BadInput:
                continue
            if value is not None:
                out[f.name] = value
        return out

    @property
    def errors(self) -> dict[str, str]:
        """Field name -> reason, for every field whose current value does not fit."""
        return dict(self._problems)

    def prefill(self, values: dict[str, Any]) -> None:
        """Fill the widgets from saved values (as :meth:`Form.validate` returned them).

        Names the form no longer has are ignored; a value the widget cannot show (a choice
        removed since) is reported under its field.
        """
        for name, value in values.items():
            widget = self.widgets.get(name)
            if widget is None:
                continue
            f = self.form.field(name)
            try:
                self._set(f, widget, value)
            except (ValueError, TypeError) as exc:
                self._unshowable[name] = f"cannot show the saved value {value!r}: {exc}"
                self._shown.add(name)
                self._check(name)
                self._refresh()

    def submit(self) -> dict[str, Any] | None:
        """Validate every field and call ``on_submit``; returns the values, or None if blocked."""
        for f in self.form.fields:
            self._check(f.name)
        self._shown.update(self._problems)
        if self._problems:
            self._refresh()
            return None
        try:
            result = self.form.validate(self.values)
        except ValidationFailed as exc:
            self._problems.update({e.field: e.reason for e in exc.errors})
            self._shown.update(self._problems)
            self._refresh()
            return None
        try:
            self._on_submit(result)
        except StudioError as exc:  # e.g. the service is inactive: say so on the page
            self.status.object = html.escape(str(exc))
            return None
        self.status.object = "Submitted."
        return result

    # -- internals -----------------------------------------------------------------

    def _changed(self, name: str) -> None:
        self._unshowable.pop(name, None)  # the user (or a prefill) put a new value in
        self._check(name)
        if not self._quiet:
            self._shown.add(name)
            self.status.object = ""
        self._refresh()

    def _check(self, name: str) -> None:
        f = self.form.field(name)
        if name in self._unshowable:
            self._problems[name] = self._unshowable[name]
            return
        try:
            self.form.validate_field(name, self._raw(f))
        except _BadInput as exc:
            self._problems[name] = str(exc)
        except ValidationFailed as exc:
            self._problems[name] = exc.errors[0].reason
        else:
            self._problems.pop(name, None)

    def _refresh(self) -> None:
        for name, pane in self._messages.items():
            reason = self._problems.get(name) if name in self._shown else None
            pane.object = html.escape(reason or "")
            pane.visible = bool(reason)
        self.submit_button.disabled = bool(self._problems)
        if self._problems:
            titles = [self.form.field(n).title for n in self.form.names if n in self._problems]
            self.status.object = html.escape("To fill in or correct: " + ", ".join(titles))

    def _raw(self, f: Field) -> Any:
        widget = self.widgets[f.name]
        value = widget.value
        if f.type == "json":
            if not value or not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise _BadInput(f"is not valid JSON: {exc}") from None
        if f.type == "file":
            if value is not None:
                return {"filename": widget.filename or "upload", "content": value}
            return self._paths.get(f.name)
        if f.type == "multiselect":
            return list(value)
        if f.type in ("text", "textarea") and value == "" and not f.required:
            return None  # left empty: the default, or the notebook's own
        return value

    def _set(self, f: Field, widget: Widget, value: Any) -> None:
        if f.type == "json":
            widget.value = "" if value is None else json.dumps(value, indent=2)
        elif f.type == "date":
            widget.value = dt.date.fromisoformat(value) if isinstance(value, str) else value
        elif f.type == "datetime":
            if isinstance(value, str):
                value = dt.datetime.fromisoformat(value)
            if value is not None and value.tzinfo is not None:
                value = value.astimezone().replace(tzinfo=None)  # the picker shows local time
            widget.value = value
        elif f.type == "file":
            if isinstance(value, dict):
                widget.param.update(value=value["content"], filename=value["filename"])
            else:
                self._paths[f.name] = value
                widget.param.update(value=None, filename=None)
                self._helps[f.name].object = html.escape(
                    "; ".join(filter(None, [f.description, f"current file: {value}" if value else ""]))
                )
                self._helps[f.name].visible = bool(self._helps[f.name].object)
                self._changed(f.name)
        elif f.type == "multiselect":
            widget.value = list(value or [])
        else:
            widget.value = value


def _bounds_text(f: Field) -> str:
    """The allowed range of a number field, in words (the widget itself does not clamp)."""
    if f.min is not None and f.max is not None:
        return f"Between {f.min} and {f.max}."
    if f.min is not None:
        return f"At least {f.min}."
    if f.max is not None:
        return f"At most {f.max}."
    return ""


def _make(cls: type[Widget], **kwargs: Any) -> Widget:
    """Build a widget, leaving out options its class lacks (Checkbox and RadioBoxGroup take no
    ``description``; the help text is shown under every field anyway)."""
    return cls(**{k: v for k, v in kwargs.items() if k in cls.param})


def _widget(f: Field) -> Widget:
    """The widget of one field, holding its default."""
    label = f"{f.title} *" if f.required else f.title
    common: dict[str, Any] = {
        "label": label,
        "css_classes": ["studio-field", f"studio-field-{f.name}"],
        "sizing_mode": "stretch_width",
    }
    if f.description:
        common["description"] = f.description
    text_extra = {"placeholder": f.placeholder} if f.placeholder else {}
    default = f.default
    if f.type == "text":
        return _make(pn.widgets.TextInput, value=default or "", **text_extra, **common)
    if f.type == "textarea":
        return _make(pn.widgets.TextAreaInput, value=default or "", **text_extra, **common)
    if f.type in ("int", "float"):
        cls = pn.widgets.IntInput if f.type == "int" else pn.widgets.FloatInput
        # No start/end on the widget: Bokeh would silently put an out-of-range value back to the
        # last valid one. The value stays as typed and the field's message says what is allowed.
        step = {"step": f.step} if f.step is not None else {}
        return _make(cls, value=default, **step, **text_extra, **common)
    if f.type == "checkbox":
        return _make(pn.widgets.Checkbox, value=bool(default), **common)
    if f.type in ("select", "radio", "multiselect"):
        options = _options(f)
        if f.type == "multiselect":
            return _make(pn.widgets.MultiChoice, options=options, value=list(default or []), **text_extra, **common)
        if f.type == "radio":
            return _make(pn.widgets.RadioBoxGroup, options=options, value=default, **common)
        if default is None or not f.required:
            options = {(f.placeholder or "—"): None, **options}
        return _make(pn.widgets.Select, options=options, value=default, **common)
    if f.type == "date":
        return _make(pn.widgets.DatePicker, value=dt.date.fromisoformat(default) if default else None, **common)
    if f.type == "datetime":
        value = dt.datetime.fromisoformat(default) if default else None
        if value is not None and value.tzinfo is not None:
            value = value.astimezone().replace(tzinfo=None)
        return _make(pn.widgets.DatetimePicker, value=value, **common)
    if f.type == "json":
        return _make(
            pn.widgets.TextAreaInput,
            value="" if default is None else json.dumps(default, indent=2),
            placeholder=f.placeholder or '{"key": "value"}',
            styles={"font-family": "monospace"}, auto_grow=True, **common,
        )
    if f.type == "file":
        return _make(pn.widgets.FileInput, **common)
    raise AssertionError(f"no widget for field type {f.type!r}")  # FIELD_TYPES is closed


def _options(f: Field) -> dict[str, Any]:
    """Choice title -> value; titles made unique, since they are the dict's keys."""
    options: dict[str, Any] = {}
    for choice in f.choices or ():
        title = choice.title
        while title in options:
            title = f"{title} ({choice.value})"
        options[title] = choice.value
    return options
