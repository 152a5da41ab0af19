#!/bin/bash
# kill the MAML run (resumable) if memory runs short, so the aligner meta-training survives
while true; do
  avail=$(awk '/MemAvailable/{print $2}' /proc/meminfo)
  if [ "$avail" -lt 1300000 ]; then
    for p in $(pgrep -f "methods maml"); do kill -9 $p; done
    echo "$(date -u +%T) killed maml, MemAvailable ${avail} kB" >> /tmp/runs/watchdog.log
  fi
  date -u +%T >> /tmp/runs/mem.log; ps -eo rss,args | grep "bench run" | grep -v grep | awk '{print $1, $NF}' >> /tmp/runs/mem.log
  sleep 5
done
