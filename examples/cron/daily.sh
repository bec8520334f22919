#!/bin/sh
# Daily leakwatch run for cron: crawl the watched sites into the store, then write the day's
# JSON trend report. Everything goes under $LEAKWATCH_DIR (default ~/leakwatch):
#   targets.txt          the sites to watch (see examples/targets.txt)
#   scans/YYYY-MM-DD.jsonl   that day's findings (masked), streamed as found
#   reports/YYYY-MM-DD.json  the yearly report over everything the store has seen
# The store is leakwatch's default (~/.local/share/leakwatch/leakwatch.db) unless
# LEAKWATCH_DB says otherwise. Exit codes are leakwatch's: cron mails only on failure.
set -u
dir=${LEAKWATCH_DIR:-$HOME/leakwatch}
day=$(date +%F)
mkdir -p "$dir/scans" "$dir/reports"
# Exit 3 means some target could not be fetched at all: still write the report, then fail.
leakwatch scan -l "$dir/targets.txt" -q -f jsonl -o "$dir/scans/$day.jsonl"
scanned=$?
leakwatch report --baseline 2020 -f json -o "$dir/reports/$day.json" || exit $?
exit $scanned
