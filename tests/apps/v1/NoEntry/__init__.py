def not_main(req):
    return "x"
