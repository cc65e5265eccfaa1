from _fake import fake, make_app

app = make_app(fake.four_gpus(), title="lbtui")
