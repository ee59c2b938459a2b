"""Job.model is Job.model_name in Python (an ML model's name); the column stays "model", so only the state changes."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ocrjobs", "0007_job_source_info"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name="job", old_name="model", new_name="model_name"),
                migrations.AlterField(
                    model_name="job",
                    name="model_name",
                    field=models.CharField(blank=True, db_column="model", default="", max_length=100),
                ),
            ],
            database_operations=[],
        ),
    ]
