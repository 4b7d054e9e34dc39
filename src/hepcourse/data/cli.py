"""``hepcourse data``: list, generate, fetch and verify the course datasets."""

from __future__ import annotations

import time

from .. import scale as scales
from .build import fetch_file, generate_files, verify_file
from .cards import cards, get_card
from .store import data_dir, file_path, read_meta


def _selected(names: list[str]):
    return list(cards().values()) if names in ([], ["all"]) else [get_card(n) for n in names]


def cmd_list(args) -> int:
    print(f"data folder: {data_dir()}   ({', '.join(f'{s}: rows per file' for s in scales.SCALES)}; * = cached)")
    for card in cards().values():
        print(f"\n{card.name:14} {card.title}  [{card.format}]")
        for filename, spec in card.files.items():
            sizes = "  ".join(
                f"{s}: {spec['rows'][s]:>9,}{'*' if read_meta(file_path(card, s, filename)) else ' '}"
                for s in scales.SCALES)
            print(f"  {filename:18} {sizes}")
    return 0


def cmd_generate(args) -> int:
    scale = scales.current(args.scale)
    selected = _selected(args.names)
    for card in selected:
        started = time.monotonic()
        generate_files(card, list(card.files), scale, workers=args.workers)
        print(f"{card.name}: {scale} scale ready in {time.monotonic() - started:.0f} s "
              f"({file_path(card, scale, '').parent})")
    if args.heldout:
        from ..grading.course import Course, heldout_datasets
        from . import generate_heldout

        course = Course()
        secret = course.heldout_secret()
        for assignment, names in heldout_datasets(course.modules).items():
            for name in sorted(set(names) & {card.name for card in selected}):
                (first, *_) = generate_heldout(name, assignment, secret, scale, workers=args.workers)
                print(f"{name}: held-out grading data of {assignment} in {first.parent}")
    return 0


def cmd_fetch(args) -> int:
    for card in _selected(args.names):
        for filename in card.files:
            print(f"{card.name}/{filename}: {fetch_file(card, filename)}")
    return 0


def cmd_verify(args) -> int:
    chosen = list(scales.SCALES) if args.scale == "all" else [scales.current(args.scale)]
    bad = 0
    for card in _selected(args.names):
        for scale in chosen:
            for filename in card.files:
                problems = verify_file(card, scale, filename)
                if problems == ["missing"]:
                    continue
                bad += bool(problems)
                print(f"{'FAIL' if problems else 'ok  '} {card.name}/{scale}/{filename}"
                      + "".join(f"\n     {p}" for p in problems))
    return 1 if bad else 0


def cmd_path(args) -> int:
    from . import path

    print(path(args.name, args.file, args.scale))
    return 0
