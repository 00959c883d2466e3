"""Link a use case to an MLflow registered model, check the link by calling MLflow, and
unlink. The owner and admins link (SET_POLICY: the link decides which model's aliases a
promotion moves); the credentials are a set's name, never a secret (rest.py)."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from mlflow_sync import rest
from mlflow_sync.models import MlflowLink
from portal.errors import InvalidFields, InvalidInput
from usecases.models import UseCase
from usecases.services import audit
from usecases.services.usecases import apply_changes, lock

VERB_SAVED, VERB_REMOVED = "mlflow_link.saved", "mlflow_link.removed"
FIELDS = ("tracking_uri", "model_name", "credentials", "aliases", "import_every_hours")
STAGES = ("production", "canary", "shadow")
# MLflow's own rule for an alias: letters, digits, _ and -, not "latest", not v<number>.
ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
RESERVED_ALIAS = re.compile(r"(?i)latest|v\d+")


def check_fields(fields: dict) -> list[InvalidInput]:
    """Each field's problem, without calling MLflow."""
    errors = []
    uri = fields.get("tracking_uri", "")
    if "tracking_uri" in fields:
        problem = rest.uri_problem(uri) if len(uri) <= 500 else "At most 500 characters."
        if problem:
            errors.append(InvalidInput(problem, field="tracking_uri"))
    name = fields.get("model_name")
    if name is not None and not name.strip():
        errors.append(InvalidInput("Name the registered model.", field="model_name"))
    elif name is not None and (("'" in name and '"' in name) or "\\" in name):
        text = "MLflow's search cannot name a model with a backslash or both kinds of quote."
        errors.append(InvalidInput(text, field="model_name"))
    if "aliases" in fields:
        errors.extend(alias_problems(fields["aliases"]))
    every = fields.get("import_every_hours")
    if every is not None and every not in MlflowLink.Every.values:
        errors.append(InvalidInput("Choose 0, 1, 6 or 24 hours.", field="import_every_hours"))
    return errors


def alias_problems(aliases: object) -> list[InvalidInput]:
    """The alias map: a stage → an MLflow alias (blank: that stage sets none), each alias
    valid in MLflow and used once."""
    if not isinstance(aliases, dict) or set(aliases) - set(STAGES):
        text = "Give an alias for production, canary and shadow (or leave one blank)."
        return [InvalidInput(text, field="aliases")]
    errors, seen = [], set()
    for stage, alias in aliases.items():
        if not isinstance(alias, str) or (alias and not ALIAS.fullmatch(alias)):
            text = f"The {stage} alias: letters, digits, _ and - only, up to 255."
            errors.append(InvalidInput(text, field="aliases"))
        elif alias and RESERVED_ALIAS.fullmatch(alias):
            text = f"The {stage} alias: MLflow reserves “latest” and v followed by a number."
            errors.append(InvalidInput(text, field="aliases"))
        elif alias and alias in seen:
            errors.append(InvalidInput(f"The alias “{alias}” is used twice.", field="aliases"))
        seen.add(alias)
    return errors


def check_connection(tracking_uri: str, model_name: str, credentials: str) -> None:
    """Ask MLflow for the registered model; InvalidInput saying what failed."""
    try:
        rest.Mlflow(tracking_uri, credentials).registered_model(model_name)
    except rest.MlflowError as error:
        if error.status == 404:
            text = f"MLflow at this address has no registered model “{model_name}”."
            raise InvalidInput(text, field="model_name") from None
        field = "credentials" if error.status in (401, 403) else "tracking_uri"
        raise InvalidInput(str(error)[:500], field=field) from None


def save_link(use_case: UseCase, *, by, **fields) -> MlflowLink:
    """Create or change the use case's link; MLflow is asked for the model before anything
    is written. Audited with what changed (the credentials set's name, never a secret)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"save_link() got unexpected fields {sorted(unknown)}")
    aliases = fields.get("aliases")
    if isinstance(aliases, dict) and not set(aliases) - set(STAGES):
        fields["aliases"] = {stage: aliases.get(stage, "") for stage in STAGES}
    errors = check_fields(fields)
    if errors:
        raise InvalidFields(errors)
    current = MlflowLink.objects.filter(use_case=use_case).first()
    if current is None and not {"tracking_uri", "model_name"} <= set(fields):
        raise InvalidInput("Give the tracking URI and the registered model's name.")
    link = current or MlflowLink(use_case=use_case, created_by=by)
    target = {name: fields.get(name, getattr(link, name)) for name in FIELDS[:3]}
    problem = rest.credentials_problem(target["credentials"], target["tracking_uri"])
    if problem:
        raise InvalidInput(problem, field="credentials")
    for name in ("tracking_uri", "model_name"):
        moved = current is not None and target[name] != getattr(current, name)
        if moved and current.versions.exists():
            raise InvalidInput(
                f"Versions were imported from “{current.model_name}” at "
                f"{current.tracking_uri}: unlink first to link another model or server "
                "(the versions stay in Quorum, and a later import adopts them by run).",
                field=name,
            )
    check_connection(**target)  # outside the transaction: MLflow may be slow
    with transaction.atomic():
        lock(use_case)
        link = MlflowLink.objects.select_for_update().filter(use_case=use_case).first() or link
        before, after = apply_changes(link, fields)
        link.checked_at = timezone.now()
        link.save()
        if after:
            audit.record(
                actor=by,
                verb=VERB_SAVED,
                target=link,
                use_case=use_case,
                before=before,
                after=after,
            )
    return link


@transaction.atomic
def remove_link(use_case: UseCase, *, by) -> bool:
    """Unlink: imported versions stay (as versions of the use case); False if none."""
    lock(use_case)
    link = MlflowLink.objects.select_for_update().filter(use_case=use_case).first()
    if link is None:
        return False
    snapshot = {name: audit.to_json_value(getattr(link, name)) for name in FIELDS}
    audit.record(actor=by, verb=VERB_REMOVED, target=link, use_case=use_case, before=snapshot)
    link.delete()
    return True
