#!/bin/sh
# Entry point of the container image.
#   (no argument) or `run`: create or migrate the database, then run the bot.
#   anything else: that community-guard command, e.g. `check`, `backup`, `setup --csv …`.
set -eu
if [ "$#" -eq 0 ] || [ "$1" = "run" ]; then
    [ "$#" -gt 0 ] && shift
    community-guard db upgrade
    exec community-guard run "$@"
fi
exec community-guard "$@"
