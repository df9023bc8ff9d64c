def main(req):
    return "oops"
