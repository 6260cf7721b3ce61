from __future__ import annotations

import pytest

from forms import Form, parse_form
from tests.forms._helpers import ALL_TYPES_SPEC


@pytest.fixture
def all_types() -> Form:
    return parse_form(ALL_TYPES_SPEC)
