def pytest_report_header(config):
    import os
    import platform

    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"bench machine: {cpu}, {os.cpu_count()} cpus, Python {platform.python_version()}"
