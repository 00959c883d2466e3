from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0004_notifications_copied_to_notifications_app"),
    ]

    operations = [
        migrations.DeleteModel(name="Notification"),
    ]
