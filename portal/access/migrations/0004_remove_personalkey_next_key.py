from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("access", "0003_rotations_by_the_one_engine")]

    operations = [migrations.RemoveField(model_name="personalkey", name="next_key")]
