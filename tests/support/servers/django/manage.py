#!/usr/bin/env python3
"""django-scim2 test server for Roster: `manage.py migrate`, `manage.py runserver`."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rosterscim.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
