import json

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

# (name, is_staff); each password is 'pw-<name>'.
USERS = [('alice', False), ('bob', False), ('staff', True)]


class Command(BaseCommand):
    help = 'Creates (or resets) the test users and prints them as JSON: [{name, password, id}].'

    def handle(self, *args, **options):
        created = []
        for name, is_staff in USERS:
            user, _ = User.objects.get_or_create(username=name)
            password = f'pw-{name}'
            user.set_password(password)
            user.is_staff = is_staff
            user.save()
            created.append({'name': name, 'password': password, 'id': user.id})
        self.stdout.write(json.dumps(created))
