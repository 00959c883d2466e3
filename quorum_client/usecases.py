"""The Client's calls about use cases and their definition: the use case, its KPIs, value
model, data-quality rules and members (/api/v1/usecases/…)."""

from __future__ import annotations

import os
from collections.abc import Callable

from quorum_client.definition import LISTS, check_definition, read_definition, use_case_fields
from quorum_client.errors import QuorumError, UseCaseIncomplete
from quorum_client.session import Session, json_value, segment, use_case_path

Step = Callable[[str], None]  # told "KPI 2 of 3 “Forecast error”" before each call


def _plain(value):
    """A YAML date or a numpy scalar as JSON takes it; lists and mappings all the way down."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json_value(value)


class UseCaseCalls(Session):
    def list_use_cases(self, **filters) -> list[dict]:
        """Every use case the token's user may see (all pages); filters: search, phase,
        owner (a username)."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._get_all("/api/v1/usecases/", params or None)

    def get_use_case(self, slug: str) -> dict:
        return self._request("GET", use_case_path(slug))

    def create_use_case(self, definition: dict | str | os.PathLike, *, on_step: Step | None = None):
        """Create a use case with its KPIs, value model, data-quality rules and members, from
        a mapping or a YAML / JSON file (docs/examples/usecase.yaml); the caller becomes an
        owner. Answers {"use_case", "kpis", "value_model", "data_quality_rules", "members"}.

        One call per part, in that order. A refused part raises UseCaseIncomplete, whose
        `created` holds what was stored before it and whose message says what was not sent;
        when the use case itself is refused nothing is stored and QuorumError is raised."""
        if isinstance(definition, dict):
            definition = check_definition(definition)
        else:
            definition = read_definition(definition)
        definition = _plain(definition)
        announce = on_step or (lambda step: None)
        announce(f"use case “{definition.get('title')}”")
        use_case = self._request("POST", "/api/v1/usecases/", json=use_case_fields(definition))
        slug = use_case["slug"]
        created: dict = {"use_case": use_case, "kpis": [], "value_model": None}
        created.update({"data_quality_rules": [], "members": []})
        for part, step, send in self._definition_steps(slug, definition):
            announce(step)
            try:
                send(created)
            except QuorumError as error:
                raise UseCaseIncomplete(
                    _incomplete(slug, definition, created, (part, step), error),
                    cause=error,
                    created=created,
                    step=step,
                ) from None
        return created

    def _definition_steps(self, slug: str, definition: dict):
        """(part, what, call) for each call after the use case, in the order they are sent."""
        paths = {
            "kpis": f"{use_case_path(slug)}kpis/",
            "data_quality_rules": f"{use_case_path(slug)}data-quality-rules/",
            "members": f"{use_case_path(slug)}members/",
        }

        def post(key: str, body: dict):
            return lambda created: created[key].append(self._request("POST", paths[key], json=body))

        def put_value_model(created: dict) -> None:
            created["value_model"] = self.put_value_model(slug, definition["value_model"])

        kpis = definition.get("kpis") or []
        for number, kpi in enumerate(kpis, start=1):
            yield "kpis", f"KPI {number} of {len(kpis)} “{kpi.get('name')}”", post("kpis", kpi)
        if definition.get("value_model") is not None:
            yield "value_model", "the value model", put_value_model
        rules = definition.get("data_quality_rules") or []
        for number, rule in enumerate(rules, start=1):
            what = f"data-quality rule {number} of {len(rules)} ({rule.get('field')})"
            yield "data_quality_rules", what, post("data_quality_rules", rule)
        members = definition.get("members") or []
        for number, member in enumerate(members, start=1):
            what = f"member {number} of {len(members)} ({member.get('username')})"
            yield "members", what, post("members", member)

    # KPIs, value model, data-quality rules

    def list_kpis(self, slug: str) -> list[dict]:
        return self._get_all(f"{use_case_path(slug)}kpis/")

    def add_kpi(self, slug: str, **fields) -> dict:
        """name, metric, target, gate_threshold; optional direction, is_gating, gate_mode
        ("point" or "bound") and segment."""
        return self._request("POST", f"{use_case_path(slug)}kpis/", json=_plain(fields))

    def get_value_model(self, slug: str) -> dict:
        """404 while the use case has none."""
        return self._request("GET", f"{use_case_path(slug)}value-model")

    def put_value_model(self, slug: str, fields: dict) -> dict:
        """Create or replace the value model: currency and the four outcome values
        (classification) or the two unit costs (regression); omitted fields are cleared."""
        return self._request("PUT", f"{use_case_path(slug)}value-model", json=_plain(fields))

    def list_rules(self, slug: str) -> list[dict]:
        return self._get_all(f"{use_case_path(slug)}data-quality-rules/")

    def add_rule(self, slug: str, **fields) -> dict:
        """field, kind (range, not_null, allowed_values, regex, max_null_rate), params,
        severity (warning or error), description."""
        path = f"{use_case_path(slug)}data-quality-rules/"
        return self._request("POST", path, json=_plain(fields))

    # Members

    def list_members(self, slug: str) -> list[dict]:
        """[{id, username, role, added_at}]."""
        return self._get_all(f"{use_case_path(slug)}members/")

    def add_member(self, slug: str, username: str, role: str) -> dict:
        """Owners and admins: give a user a role (owner, expert, data_scientist, viewer);
        409 if they are a member already."""
        body = {"username": username, "role": role}
        return self._request("POST", f"{use_case_path(slug)}members/", json=body)

    def change_member_role(self, slug: str, username: str, role: str) -> dict:
        """409 if that would leave the use case without its accountable owner."""
        path = self._member_path(slug, username)
        return self._request("PATCH", path, json={"role": role})

    def remove_member(self, slug: str, username: str) -> None:
        """409 for the accountable owner or the last owner."""
        self._request("DELETE", self._member_path(slug, username))

    def _member_path(self, slug: str, username: str) -> str:
        for member in self.list_members(slug):
            if member.get("username") == username:
                return f"{use_case_path(slug)}members/{segment(member['id'])}/"
        raise QuorumError(f"{username} is not a member of {slug}.", status=404)


def _incomplete(slug: str, definition: dict, created: dict, refused, error: QuorumError) -> str:
    """What was stored, what was refused and why, and what was not sent."""
    part, step = refused
    stored = [f"use case {slug}"]
    if created["kpis"]:
        stored.append(_names("KPI", [k.get("name") for k in created["kpis"]]))
    if created["value_model"] is not None:
        stored.append("the value model")
    if created["data_quality_rules"]:
        fields = [rule.get("field") for rule in created["data_quality_rules"]]
        stored.append(_names("data-quality rule", fields))
    if created["members"]:
        stored.append(_names("member", [m.get("username") for m in created["members"]]))
    missing = _not_sent(definition, created, part)
    text = f"Created {', '.join(stored)}; then {step} was refused: {error.detail}"
    if missing:
        text += f" Not sent: {', '.join(missing)}."
    return (
        text + f" Add the rest on the portal or with the API, or delete {slug} and create it "
        "again from the corrected file."
    )


def _names(kind: str, names: list) -> str:
    plural = "s" if len(names) > 1 else ""
    return f"{kind}{plural} " + ", ".join(f"“{name}”" for name in names)


def _not_sent(definition: dict, created: dict, refused: str) -> list[str]:
    """The parts after the refused one: parts are sent in order, so whatever was neither
    stored nor refused was not sent."""
    missing = []
    value_model = definition.get("value_model")
    if value_model is not None and created["value_model"] is None and refused != "value_model":
        missing.append("the value model")
    for key, (name, _) in LISTS.items():
        left = len(definition.get(key) or []) - len(created[key]) - (key == refused)
        if left > 0:
            missing.append(f"{left} {name}{'s' if left > 1 else ''}")
    return missing
