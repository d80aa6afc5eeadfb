"""The database cache's table (login rate limits shared by every process when there is no Redis).

Created by `migrate` itself, so no release step can forget `createcachetable`; it does nothing when the
cache is Redis. A deployment that drops Redis later runs `manage.py createcachetable` once.
"""

from django.core.management import call_command
from django.db import migrations


def cache_table_create(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = []

    operations = [migrations.RunPython(cache_table_create, migrations.RunPython.noop)]
