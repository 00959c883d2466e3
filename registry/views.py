"""Pages of the model registry: versions, evaluation datasets, predictions and evaluations.

Reads need VIEW, writes MANAGE_MODELS (owner, data scientist, admin), marking the reference
dataset SET_POLICY (owner, admin); every view fetches the use case through
`get_use_case_for()` and writes through one service of registry.services. Lists show the
current evaluations; a superseded one stays readable at its own URL. The evaluation page's
status section is a partial that polls itself every second while the evaluation is unfinished.
The two views that take a file are `capped_upload`: a body over the limit is refused (413)
before or while it arrives, not after Django wrote it to a temporary file.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.formatting import value_text
from portal.plotting import chart_page
from portal.uploads import capped_upload
from portal.web import GET_POST, Form, HtmxRequest, call_service, page_of, posted
from registry import charts, panels, selectors
from registry.forms import (
    DatasetUploadForm,
    EvaluationStartForm,
    PredictionUploadForm,
    VersionForm,
    call_upload,
)
from registry.models import Evaluation, ModelVersion, PredictionSet
from registry.services import evaluations, reference, registering
from usecases.models import UseCase
from usecases.permissions import Action, get_use_case_for, page_context

# Problems listed on a rejected upload's report; the counts per rule cover them all.
REPORTED_PROBLEMS = 100


def _action(request) -> Action:
    return Action.MANAGE_MODELS if request.method == "POST" else Action.VIEW


# Versions


@GET_POST
def versions(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, _action(request))
    form = VersionForm(posted(request))
    if form.is_valid():
        version = call_service(
            form, registering.register_version, use_case, by=request.user, **form.cleaned_data
        )
        if version is not None:
            messages.success(request, f"Version {version.version} is registered.")
            return redirect(version)
    page = page_of(request, selectors.version_rows(use_case))
    context = page_context(request, use_case, page=page, form=form)
    return render(request, "registry/versions.html", context)


def _version(use_case: UseCase, version: str) -> ModelVersion:
    versions = ModelVersion.objects.select_related("registered_by")
    return get_object_or_404(versions, use_case=use_case, version=version)


def _items(mapping: dict) -> list[tuple[str, str]]:
    """A JSON object's entries as (key, value as text), sorted, for a key-value table."""
    return [
        (key, value_text(value, decimals=None)) for key, value in sorted((mapping or {}).items())
    ]


def _render_version(request, use_case: UseCase, version: ModelVersion, **forms) -> HttpResponse:
    """The version page; `forms` are the bound forms of a refused upload or start."""
    datasets = use_case.datasets.only("pk", "use_case", "name", "row_count").order_by("name")
    prediction_sets = list(
        PredictionSet.objects.filter(model_version=version)
        .select_related("dataset", "uploaded_by")
        .defer("dataset__label_summary", "dataset__rule_violations")
        .order_by("dataset__name")
    )
    evaluated = {e.dataset_id: e for e in version.evaluations.current().defer("results").order_by()}
    for prediction_set in prediction_sets:
        prediction_set.evaluation = evaluated.get(prediction_set.dataset_id)
    context = page_context(
        request,
        use_case,
        version=version,
        prediction_sets=prediction_sets,
        evaluations=selectors.evaluation_rows(use_case).filter(model_version=version),
        upload_form=forms.get("upload_form") or PredictionUploadForm(datasets=datasets),
        start_form=forms.get("start_form"),
        has_datasets=bool(datasets),
        reported=REPORTED_PROBLEMS,
        parameters=_items(version.parameters),
        tags=_items(version.tags),
        panels=panels.for_version(request, version),
    )
    return render(request, "registry/version_detail.html", context)


@require_GET
def version_detail(request: HtmxRequest, slug: str, version: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    return _render_version(request, use_case, _version(use_case, version))


@require_POST
@capped_upload
def prediction_upload(request: HtmxRequest, slug: str, version: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.MANAGE_MODELS)
    model_version = _version(use_case, version)
    form = PredictionUploadForm(request.POST, request.FILES, datasets=use_case.datasets.all())
    if form.is_valid():
        upload = form.cleaned_data["file"]
        saved = call_upload(
            form,
            registering.upload_predictions,
            model_version,
            by=request.user,
            dataset=form.cleaned_data["dataset"],
            source=upload,
            filename=upload.name,
        )
        if saved is not None:
            messages.success(
                request, f"{saved.row_count:,} predictions on “{saved.dataset}” stored."
            )
            if saved.disagreeing_rows:
                messages.warning(request, disagreement_note(saved, use_case))
            return redirect(model_version)
    return _render_version(request, use_case, model_version, upload_form=form)


@require_POST
def evaluation_start(request: HtmxRequest, slug: str, version: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.MANAGE_MODELS)
    model_version = _version(use_case, version)
    form = EvaluationStartForm(request.POST, datasets=use_case.datasets.all())
    if form.is_valid():
        evaluation = call_service(
            form,
            evaluations.start_evaluation,
            model_version,
            by=request.user,
            dataset=form.cleaned_data["dataset"],
        )
        if evaluation is not None:
            return redirect(evaluation)
    return _render_version(request, use_case, model_version, start_form=form)


# Datasets


@GET_POST
@capped_upload
def datasets(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, _action(request))
    form = DatasetUploadForm(posted(request), request.FILES or None)
    if form.is_valid():
        data, upload = form.cleaned_data, form.cleaned_data["file"]
        dataset = call_upload(
            form,
            registering.upload_dataset,
            use_case,
            by=request.user,
            name=data["name"],
            description=data["description"],
            source=upload,
            filename=upload.name,
        )
        if dataset is not None:
            messages.success(request, f"“{dataset.name}” is stored: {dataset.row_count:,} rows.")
            return redirect(dataset)
    page = page_of(request, selectors.dataset_rows(use_case))
    context = page_context(request, use_case, page=page, form=form, reported=REPORTED_PROBLEMS)
    return render(request, "registry/datasets.html", context)


@chart_page
@require_GET
def dataset_detail(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    dataset = get_object_or_404(use_case.datasets.select_related("uploaded_by"), pk=pk)
    prediction_sets = list(
        dataset.prediction_sets.select_related("model_version", "uploaded_by").order_by(
            "model_version__version"
        )
    )
    current = dataset.evaluations.current().defer("results").order_by()
    evaluated = {e.model_version_id: e for e in current}
    for prediction_set in prediction_sets:
        prediction_set.evaluation = evaluated.get(prediction_set.model_version_id)
    context = page_context(
        request,
        use_case,
        dataset=dataset,
        prediction_sets=prediction_sets,
        label_chart=charts.label_distribution_figure(dataset.label_summary),
        violations_by_severity=selectors.violations_by_severity(dataset.rule_violations),
    )
    return render(request, "registry/dataset_detail.html", context)


@require_POST
def dataset_reference(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.SET_POLICY)
    dataset = get_object_or_404(use_case.datasets.only("pk", "use_case", "name"), pk=pk)
    form = Form(request.POST)  # no fields: it carries the service's refusal, if any
    if form.is_valid():
        marked = call_service(form, reference.mark_reference, dataset, by=request.user)
        if marked is not None:
            messages.success(request, f"“{marked.name}” is the reference for promotion.")
    for error in form.non_field_errors():
        messages.error(request, error)
    return redirect("registry:dataset_detail", use_case.slug, dataset.pk)


@GET_POST
def dataset_delete(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.MANAGE_MODELS)
    dataset = get_object_or_404(use_case.datasets.defer("label_summary"), pk=pk)
    if request.method == "POST":
        registering.delete_dataset(dataset, by=request.user)
        messages.success(request, f"“{dataset.name}” is deleted, with its predictions.")
        return redirect("registry:datasets", use_case.slug)
    counts = {
        "prediction_set_count": dataset.prediction_sets.count(),
        "evaluation_count": dataset.evaluations.count(),
    }
    context = page_context(request, use_case, dataset=dataset, **counts)
    return render(request, "registry/dataset_delete.html", context)


# Evaluations


@require_GET
def evaluations_overview(request: HtmxRequest, slug: str) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    rows = selectors.evaluation_rows(use_case)
    page = page_of(request, rows)
    context = page_context(request, use_case, page=page, **selectors.leaderboard(use_case))
    return render(request, "registry/evaluations.html", context)


@chart_page
@require_GET
def evaluation_detail(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    use_case = get_use_case_for(request, slug, Action.VIEW)
    related = ("model_version", "dataset", "champion", "requested_by")
    evaluation = get_object_or_404(use_case.evaluations.select_related(*related), pk=pk)
    template = "registry/evaluation_detail.html"
    if request.htmx:
        template += "#evaluation-status"  # only the polled fragment (results once finished)
    context = page_context(request, use_case, evaluation=evaluation)
    if not request.htmx:
        context["replaces"] = evaluation.supersedes.only("pk", "finished_at").first()
    if evaluation.status == Evaluation.Status.SUCCEEDED:
        report = selectors.evaluation_report(evaluation)
        context["report"] = report
        context["changed_since"] = selectors.definitions_changed(evaluation)
        context["charts"] = charts.evaluation_figures(
            report["task_type"],
            evaluation.results,
            segment_metric=report["headline"],
            metric_labels=report["labels"],
            currency=report["currency"],
            class_names={str(v): use_case.class_label(v) for v in (0, 1, *use_case.known_classes)},
        )
    return render(request, template, context)


def disagreement_note(prediction_set, use_case) -> str:
    """What the upload of binary predictions whose two columns disagree says."""
    n = prediction_set.disagreeing_rows
    return (
        f"{n:,} row{'s' if n != 1 else ''} of {prediction_set.row_count:,} have a 0/1 "
        f"prediction that is not what their score gives at the decision threshold "
        f"({use_case.decision_threshold:g}: a score at or above it predicts 1). Evaluations "
        "classify by the score; the prediction column is not used."
    )


@GET_POST
def evaluation_rerun(request: HtmxRequest, slug: str, pk: int) -> HttpResponse:
    """GET: what running the evaluation again does, to confirm; POST: run it again."""
    use_case = get_use_case_for(request, slug, Action.MANAGE_MODELS)
    evaluation = get_object_or_404(
        use_case.evaluations.select_related("model_version", "dataset").defer("results"), pk=pk
    )
    if request.method == "GET":
        context = page_context(
            request,
            use_case,
            evaluation=evaluation,
            changed_since=selectors.definitions_changed(evaluation),
        )
        return render(request, "registry/evaluation_rerun.html", context)
    form = Form(request.POST)  # no fields: it carries the service's refusal, if any
    if form.is_valid():
        started = call_service(
            form,
            evaluations.start_evaluation,
            evaluation.model_version,
            by=request.user,
            dataset=evaluation.dataset,
        )
        if started is not None:  # a finished evaluation's re-run is a new one
            return redirect(started)
    for error in form.non_field_errors():
        messages.error(request, error)
    return redirect(evaluation)
