"""Pieces every API endpoint shares: view permissions and the error shape."""

from __future__ import annotations

from rest_framework.permissions import DjangoModelPermissions


class ViewModelPermission(DjangoModelPermissions):
    """Reading needs the model's ``view`` permission (DRF's default lets any authenticated user read)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
