def main(req):
    return "keyed ok"
