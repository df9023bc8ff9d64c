def main(req):
    return "should not run"
