"""Tenancy that fails closed.

A workspace is put "in scope" for the duration of a request (by
``WorkspaceMiddleware``) or a task (by ``workspace_scope``). Tenant-owned
models use ``WorkspaceScopedManager`` as ``objects``: it filters every query to
the workspace in scope and raises ``NoWorkspaceInScope`` when there is none.
Code that must cross tenants (admin, dispatcher, webhook routing) says so by
using the explicit ``all_workspaces`` manager.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from accounts.models import Workspace

_current_workspace_id: ContextVar[int | None] = ContextVar("current_workspace_id", default=None)


class NoWorkspaceInScope(RuntimeError):
    """A tenant-owned table was queried with no workspace in scope."""


def current_workspace_id() -> int:
    workspace_id = _current_workspace_id.get()
    if workspace_id is None:
        raise NoWorkspaceInScope(
            "No workspace is in scope. Enter one with workspace_scope(), or use the "
            "explicit all_workspaces manager for cross-tenant code."
        )
    return workspace_id


@contextmanager
def workspace_scope(workspace: Workspace | int) -> Iterator[None]:
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    token = _current_workspace_id.set(workspace_id)
    try:
        yield
    finally:
        _current_workspace_id.reset(token)


_M = TypeVar("_M", bound=models.Model)


class WorkspaceScopedManager(models.Manager[_M]):
    """Returns only the rows of the workspace in scope; raises without one."""

    def get_queryset(self) -> models.QuerySet[_M]:
        return super().get_queryset().filter(workspace_id=current_workspace_id())

    def create(self, **kwargs: Any) -> _M:
        kwargs.setdefault("workspace_id", current_workspace_id())
        return super().create(**kwargs)


class WorkspaceOwned(models.Model):
    """Base for every tenant-owned table."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")

    # The first manager is Django's default (admin, related lookups, dumpdata):
    # those are cross-tenant by nature. Product code uses ``objects``.
    all_workspaces = models.Manager()
    objects = WorkspaceScopedManager()

    class Meta:
        abstract = True
        default_manager_name = "all_workspaces"
