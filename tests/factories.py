"""factory_boy factories with valid defaults."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from usecases.models import KPI, DataQualityRule, Role, UseCase, UseCaseMember, ValueModel

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        for name in extracted or ():
            self.groups.add(
                Group.objects.get_or_create(name=name)[0]
            )  # flushed by transactional tests
        if create:
            self.save()


class UseCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UseCase
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"use-case-{n}")
    title = factory.Sequence(lambda n: f"Use case {n}")
    problem_statement = "Forecast daily demand per store and product."
    owner = factory.SubFactory(UserFactory)
    task_type = UseCase.TaskType.REGRESSION
    feature_schema = factory.LazyFunction(
        lambda: [{"name": "store", "type": "category"}, {"name": "price", "type": "number"}]
    )

    @factory.post_generation
    def owner_member(self, create, extracted, **kwargs):
        if create:
            UseCaseMember.objects.get_or_create(
                use_case=self, user=self.owner, defaults={"role": Role.OWNER}
            )


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UseCaseMember

    use_case = factory.SubFactory(UseCaseFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class KPIFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KPI

    use_case = factory.SubFactory(UseCaseFactory)
    name = factory.Sequence(lambda n: f"KPI {n}")
    metric = "mae"
    direction = KPI.Direction.LOWER
    target = 10.0
    gate_threshold = 12.0


class ValueModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ValueModel

    use_case = factory.SubFactory(UseCaseFactory)
    cost_per_unit_under = "2.50"
    cost_per_unit_over = "0.80"


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataQualityRule

    use_case = factory.SubFactory(UseCaseFactory)
    field = "price"
    kind = DataQualityRule.Kind.RANGE
    params = factory.LazyFunction(lambda: {"min": 0, "max": 1000})
