"""Shared fixtures. Tests run on 2 cores in a few minutes: small graphs, fixed seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
MUSIC = DATASETS / "amazon-digital-music" / "meta_Digital_Music.partial.jsonl.gz"
GIFT_CARDS = DATASETS / "amazon-gift-cards" / "meta_Gift_Cards.json.gz"


@pytest.fixture
def music_path() -> Path:
    if not MUSIC.exists():
        pytest.skip("shared datasets not present beside the repo")
    return MUSIC


@pytest.fixture
def gift_cards_path() -> Path:
    if not GIFT_CARDS.exists():
        pytest.skip("shared datasets not present beside the repo")
    return GIFT_CARDS
