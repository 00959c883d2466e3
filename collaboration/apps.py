from django.apps import AppConfig


class CollaborationConfig(AppConfig):
    name = "collaboration"

    def ready(self) -> None:
        from usecases.audit_labels import register

        # A comment's event: its sentence says where ("on"); the thread and the reply flag
        # only build its link. Its text is never audited.
        register("comment", hidden={"on", "thread", "reply"})
