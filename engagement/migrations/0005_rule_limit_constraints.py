# The constraints of 0004's limits, in their own migration: PostgreSQL may refuse to ALTER a table
# in the transaction that has just updated its rows (pending trigger events).

import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0004_rule_limits"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="commentrule",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("keywords"), 2200
                ),
                name="comment_rule_keywords_length",
            ),
        ),
        migrations.AddConstraint(
            model_name="commentrule",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("reply_templates"), 44020
                ),
                name="comment_rule_reply_templates_length",
            ),
        ),
        migrations.AddConstraint(
            model_name="commentrule",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("private_reply_templates"), 20020
                ),
                name="comment_rule_private_templates_length",
            ),
        ),
    ]
