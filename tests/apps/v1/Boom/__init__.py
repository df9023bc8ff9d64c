def main(req):
    raise ValueError("secret-detail-do-not-leak")
