"""Fetch stage: targets, URLs, address safety, robots.txt, politeness and the crawler."""
