# CPU-bound Python workload for the python bench: work units (f called from g) for SECONDS, then prints
# "<units> <seconds> <cpu seconds>" (process CPU time: the profilers' samples taken in it are in it).
import sys
import time


def unit_of_work(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFFFFFF
    return acc


def level2(n):
    return unit_of_work(n) + 1


def level1(seconds):
    end = time.monotonic() + seconds
    units = 0
    while time.monotonic() < end:
        level2(20000)
        units += 1
    return units


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4
    c0 = time.process_time()
    units = level1(seconds)
    print(units, seconds, time.process_time() - c0)
