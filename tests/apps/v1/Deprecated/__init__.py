from __app__.shared_code.greet import greet


def main(req):
    return greet("deprecated")
