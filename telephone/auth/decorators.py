"""Role checks for views."""
from functools import wraps

from flask import abort
from flask_login import current_user


def admin_required(view):
    """403 unless the logged-in user is an admin (login itself is enforced app-wide)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not (current_user.is_authenticated and current_user.is_admin):
            abort(403)
        return view(*args, **kwargs)
    return wrapped
