"""Allocates memory without bound (64 MB at a time, touching every page)."""

HOG = []


def attack(obj):
    while True:
        HOG.append(bytearray(64 * 1024 * 1024))
