"""instructor against tollgated --dev, in its JSON, JSON-schema and tools
modes, through each wire dialect: the mocks answer with JSON generated from
the response model's schema, which instructor validates.

instructor needs its own venv (`tests/clients/run` makes
`.venv-instructor` from requirements-instructor.txt); elsewhere this file
is skipped.
"""

from typing import Literal

import pytest

instructor = pytest.importorskip("instructor")
openai = pytest.importorskip("openai")
from pydantic import BaseModel, Field  # noqa: E402  (after the skip)


class District(BaseModel):
    name: str
    area: float = Field(le=10)


class City(BaseModel):
    name: str
    population: int = Field(ge=1000)
    capital: bool
    kind: Literal["town", "city"]
    districts: list[District] = Field(min_length=2)


PROMPT = "Tell me about Paris"
MODES = [instructor.Mode.JSON, instructor.Mode.JSON_SCHEMA, instructor.Mode.TOOLS]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
@pytest.mark.parametrize("model", ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"])
def test_instructor(gateway, mode, model):
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key)
    city = instructor.from_openai(client, mode=mode).chat.completions.create(
        model=model,
        response_model=City,
        messages=[{"role": "user", "content": PROMPT}],
        max_retries=0,
    )
    assert isinstance(city, City)
    assert city.population >= 1000
    assert len(city.districts) >= 2
    # strings come from the prompt's words
    assert city.name in PROMPT.split()
