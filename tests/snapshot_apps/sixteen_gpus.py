from _fake import fake, make_app

app = make_app(fake.many_gpus(16), title="lbtui")
