# The constraints of 0004's limits, in their own migration: PostgreSQL may refuse to ALTER a table
# in the transaction that has just updated its rows (pending trigger events).

import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0004_automation_limits"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="dmrule",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("keywords"), 2200
                ),
                name="dm_rule_keywords_length",
            ),
        ),
        migrations.AddConstraint(
            model_name="dmrule",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("reply_templates"), 20020
                ),
                name="dm_rule_reply_templates_length",
            ),
        ),
        migrations.AddConstraint(
            model_name="flow",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("keywords"), 2200
                ),
                name="flow_keywords_length",
            ),
        ),
        migrations.AddConstraint(
            model_name="messagingsettings",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("ai_blocked_words"), 2200
                ),
                name="messaging_settings_blocked_words_length",
            ),
        ),
    ]
