def main(req):
    return "admin ok"
