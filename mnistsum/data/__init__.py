"""The data: offline MNIST (`mnist`), the stacked two-digit pairs and their files (`pairs`), and what a stage
loads of them with the dataset inputs MLflow records (`splits`)."""
