#!/bin/bash
# every 10 s: time, MemAvailable kB, and pid / rss kB / args of each sggft-meta process
while true; do
  echo "$(date -u +%H:%M:%S) avail=$(awk '/MemAvailable/{print $2}' /proc/meminfo) $(ps -eo pid,rss,args | grep 'sggft-meta bench run' | grep -v grep | awk '{printf "%s:%s:%s:%s ", $1, $2, $(NF-2), $NF}')"
  sleep 10
done
