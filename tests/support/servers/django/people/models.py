"""The models django-scim2's README asks for: a User and a Group carrying its SCIM mixins."""
import os

from django.contrib.auth.models import AbstractUser
from django.db import models
from django_scim.models import (
    AbstractSCIMGroupMixin,
    AbstractSCIMUserMixin,
    SCIMServiceProviderConfig,
)


class Group(AbstractSCIMGroupMixin):
    name = models.CharField(max_length=150, unique=True)


class User(AbstractSCIMUserMixin, AbstractUser):
    # The library's Group adapter reads a group's members as `group.user_set`.
    scim_groups = models.ManyToManyField(Group, related_name="user_set", blank=True)


class ServiceProviderConfig(SCIMServiceProviderConfig):
    """The library's own, announcing a smaller page (ROSTER_DJANGO_PAGE) when asked to."""

    def to_dict(self):
        d = super().to_dict()
        page = os.environ.get("ROSTER_DJANGO_PAGE")
        if page:
            d["filter"]["maxResults"] = int(page)
        return d
