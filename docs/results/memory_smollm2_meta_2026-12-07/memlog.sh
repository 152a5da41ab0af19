#!/bin/bash
while true; do echo "$(date -u +%T) $(awk '/MemAvailable/{print $2}' /proc/meminfo) $(ps -eo rss,args | grep 'bench run' | grep -v grep | awk '{printf "%s:%s ", $NF, $1}')" >> /tmp/runs/mem2.log; sleep 10; done
