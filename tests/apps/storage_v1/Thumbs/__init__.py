def main(blob: bytes) -> str:
    return f"{type(blob).__name__}:{len(blob)}"
