def main(request, extra):
    return "x"
