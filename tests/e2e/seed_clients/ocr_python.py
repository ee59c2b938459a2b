import requests
import base64

# Example 1: OCR from URL
def ocr_from_url(image_url, api_key):
    url = "https://api.neosantara.xyz/v1/ocr"

    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json"
    }

    payload = {
        "model": "deepseek-ocr",
        "image": image_url,
        "image_type": "url",
        "return_image": False
    }

    response = requests.post(url, json=payload, headers=headers)
    result = response.json()

    print("Extracted Text:", result["choices"][0]["text"])
    return result

# Example 2: OCR from base64 image
def ocr_from_base64(image_path, api_key):
    url = "https://api.neosantara.xyz/v1/ocr"

    # Read and encode image
    with open(image_path, "rb") as image_file:
        image_base64 = base64.b64encode(image_file.read()).decode('utf-8')

    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json"
    }

    payload = {
        "model": "deepseek-ocr",
        "image": image_base64,
        "image_type": "base64",
        "return_image": True  # Get annotated image back
    }

    response = requests.post(url, json=payload, headers=headers)
    result = response.json()

    print("Extracted Text:", result["choices"][0]["text"])

    # Save annotated image if returned
    if "result_image_base64" in result:
        with open("annotated_image.png", "wb") as f:
            f.write(base64.b64decode(result["result_image_base64"]))
        print("Annotated image saved as 'annotated_image.png'")

    return result

# Usage
api_key = "your_api_key_here"

# OCR from URL (using test image)
result = ocr_from_url(
    "https://res.cloudinary.com/dcwnn9c0u/image/upload/v1762880072/gh1nwfzslf4glu2cde9z.jpg",
    api_key
)

# OCR from local file
result = ocr_from_base64("./document.png", api_key)
