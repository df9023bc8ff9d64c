def main(name: str) -> str:
    if name == "nowhere":
        raise ValueError("there is no nowhere")
    return f"Hello {name}!"
