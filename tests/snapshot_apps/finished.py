from _fake import fake, make_app

app = make_app(fake.finished_run(), title="lbtui")
